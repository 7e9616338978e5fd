//! What a generative engine saved (`OUT/generator.json`) turned back into samples for
//! `ppl sample DIR`: one module per kind, dispatched on the file's `kind`.

pub mod rbm;

/// Samples from a saved generator: one row per sample, named columns, and the image shape
/// (rows, columns) when a row is a picture.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedSamples {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
    pub image: Option<(usize, usize)>,
}
