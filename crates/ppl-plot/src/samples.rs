//! `ppl plot DIR --kind samples` on the output directory of a generative run (VAE, RBM, GAN):
//! new rows drawn from the model it saved in `DIR/generator.json`, as a grid of images when a row
//! is a square image (digits), or as points over the saved data when rows are 2-D (a GAN on the
//! plane). The drawing is `ppl sample`'s, with its default count and seed, so both show the same.

use ppl_planner::generative::{self, GeneratedSamples};

use crate::error::PlotError;
use crate::{PlotRequest, RunOutput};

/// Images per row of the grid, and rows drawn: 64 digits in 8 rows, as `ppl sample` draws them.
pub const GRID_COLUMNS: usize = 8;
pub const COUNT: usize = 64;
/// Points on a 2-D scatter: enough to see the shape the generator learned.
const POINTS: usize = 2000;
const SEED: u64 = 1;

/// What was drawn: the picture's size and a word on what it shows.
pub fn plot(run: &RunOutput, request: &PlotRequest) -> Result<((u32, u32), String), PlotError> {
    let missing = |message: String| PlotError::InputMissing { message };
    let saved = generative::read_generator(&run.path).map_err(|e| missing(e.to_string()))?;
    let kind = generative::kind(&saved).unwrap_or("").to_string();
    let draw = |n: usize| -> Result<GeneratedSamples, PlotError> {
        match kind.as_str() {
            "vae" => generative::vae::sample_vae(&saved, n, SEED),
            "rbm" => generative::rbm::sample_rbm(&saved, n, SEED),
            "gan" => generative::gan::sample_gan(&saved, n, SEED),
            other => {
                return Err(missing(format!(
                    "`{}` is of kind `{other}`, which has no pictures of samples",
                    run.path.join(generative::GENERATOR_FILE).display()
                )));
            }
        }
        .map_err(|e| missing(e.to_string()))
    };
    let first = draw(COUNT)?;
    if let Some(shape) = first.image {
        if crate::figure::Format::of(&request.out)? != crate::figure::Format::Png {
            return Err(PlotError::OutputFormat {
                path: request.out.clone(),
            });
        }
        let size = crate::image_grid::image_grid(&first.rows, shape, GRID_COLUMNS, &request.out)?;
        return Ok((size, format!("{COUNT} samples of the {kind}")));
    }
    if first.columns.len() == 2 {
        let samples = draw(POINTS)?;
        let data = match kind.as_str() {
            "gan" => crate::scatter::points_of(&generative::gan::saved_data(&saved)),
            _ => Vec::new(),
        };
        let size = crate::scatter::scatter(
            &crate::scatter::points_of(&samples.rows),
            &data,
            (&samples.columns[0], &samples.columns[1]),
            &request.out,
        )?;
        return Ok((size, format!("{POINTS} samples of the {kind}")));
    }
    Err(missing(format!(
        "the {kind}'s rows have {} values, neither a square image nor a point on the plane: `ppl sample {} --out FILE` writes them as CSV",
        first.columns.len(),
        run.path.display()
    )))
}
