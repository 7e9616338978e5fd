//! `ppl sample DIR [--n 64] [--seed S] --out F`: draws new rows from the generative model a run
//! saved in `DIR/generator.json` (LANGUAGE.md §8), writes them to `F.csv` and, for image data, a
//! grid of them to `F.png`; for a VAE also `F_reconstructions.png`, saved rows beside their
//! reconstructions.

use std::path::{Path, PathBuf};

use clap::Args;
use ppl_planner::generative::{self, GeneratedSamples};
use ppl_syntax::codes;

use crate::frontend::{CommandError, Exit};

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The output directory of a generative run (`--method vae`, `cd` or `gan`).
    pub dir: PathBuf,
    /// How many rows to draw.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The stem of the files to write: F.csv, F.png (and F_reconstructions.png for a VAE).
    #[arg(long)]
    pub out: PathBuf,
}

/// Images per row of a picture.
const GRID_COLUMNS: usize = 8;

pub fn run(args: SampleArgs) -> Result<(), CommandError> {
    let fit_error = |e| CommandError::from_fit(e, None);
    let saved = generative::read_generator(&args.dir).map_err(fit_error)?;
    let kind = generative::kind(&saved).unwrap_or("").to_string();
    let samples = match kind.as_str() {
        "vae" => generative::vae::sample_vae(&saved, args.n, args.seed).map_err(fit_error)?,
        "rbm" => generative::rbm::sample_rbm(&saved, args.n, args.seed).map_err(fit_error)?,
        "gan" => generative::gan::sample_gan(&saved, args.n, args.seed).map_err(fit_error)?,
        other => {
            return Err(CommandError::message(
                codes::GENERATOR_MALFORMED,
                format!(
                    "`{}` is of kind `{other}`, which `ppl sample` does not know",
                    args.dir.join(generative::GENERATOR_FILE).display()
                ),
                Exit::Usage,
            ));
        }
    };
    let stem = args.out.with_extension("");
    let csv = stem.with_extension("csv");
    crate::output::write_atomically(&csv, to_csv(&samples).as_bytes())
        .map_err(|e| CommandError::cannot_write(&csv, &e))?;
    eprintln!("wrote {} rows to {}", samples.rows.len(), csv.display());
    if let Some(shape) = samples.image {
        let png = stem.with_extension("png");
        draw(&samples.rows, shape, &png)?;
        if kind == "vae" {
            let (originals, reconstructions) =
                generative::vae::reconstruct_vae(&saved).map_err(fit_error)?;
            // Rows of originals, each followed by the row of their reconstructions.
            let mut panels = Vec::new();
            for (original, reconstructed) in originals
                .rows
                .chunks(GRID_COLUMNS)
                .zip(reconstructions.rows.chunks(GRID_COLUMNS))
            {
                panels.extend(original.iter().cloned());
                panels.extend(std::iter::repeat_n(
                    vec![0.0; shape.0 * shape.1],
                    GRID_COLUMNS - original.len(),
                ));
                panels.extend(reconstructed.iter().cloned());
                panels.extend(std::iter::repeat_n(
                    vec![0.0; shape.0 * shape.1],
                    GRID_COLUMNS - reconstructed.len(),
                ));
            }
            let file_name = format!(
                "{}_reconstructions.png",
                stem.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("samples")
            );
            let path = stem.with_file_name(file_name);
            draw(&panels, shape, &path)?;
            eprintln!("(rows of saved data, each above the row of their reconstructions)");
        }
    } else if samples.columns.len() == 2 {
        // Two columns: the samples as points over the data saved with the generator (if any).
        let data = match kind.as_str() {
            "gan" => ppl_plot::scatter::points_of(&generative::gan::saved_data(&saved)),
            _ => Vec::new(),
        };
        let picture = if args.out.extension().and_then(|e| e.to_str()) == Some("svg") {
            stem.with_extension("svg")
        } else {
            stem.with_extension("png")
        };
        ppl_plot::scatter(
            &ppl_plot::scatter::points_of(&samples.rows),
            &data,
            (&samples.columns[0], &samples.columns[1]),
            &picture,
        )
        .map_err(|e| CommandError::message(e.code(), e.to_string(), Exit::Usage))?;
        eprintln!("wrote {}", picture.display());
    }
    Ok(())
}

fn draw(images: &[Vec<f64>], shape: (usize, usize), path: &Path) -> Result<(), CommandError> {
    ppl_plot::image_grid(images, shape, GRID_COLUMNS, path)
        .map_err(|e| CommandError::message(e.code(), e.to_string(), Exit::Usage))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn to_csv(samples: &GeneratedSamples) -> String {
    let mut out = samples.columns.join(",");
    out.push('\n');
    for row in &samples.rows {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
