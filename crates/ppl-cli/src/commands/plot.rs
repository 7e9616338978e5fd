//! `ppl plot DIR --kind K [--var v ...] --out F.png|svg`: one picture of a run's output directory,
//! drawn by `ppl_plot`; this module only maps flags to a request and errors to exit statuses
//! (and, for a ppc plot, reads the observed data from the model, since output directories do not
//! hold them).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ppl_plot::{PlotFailure, PlotKind, PlotRequest};

use crate::frontend::{CommandError, Exit};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  ppl run examples/eight_schools_centered.model --out fit\n  ppl plot fit --kind pair --var 'theta[1]' --var tau --out pair.png\n  ppl run examples/linear_regression.model --predict --out lr\n  ppl plot lr --kind ppc --model examples/linear_regression.model --out ppc.png\n  ppl run examples/vae_digits.model --out vae\n  ppl plot vae --kind samples --out digits.png"
)]
pub struct PlotArgs {
    /// An output directory of `ppl run --out` (or one draws CSV file).
    pub dir: PathBuf,
    /// What to draw.
    #[arg(long, value_enum, default_value = "trace")]
    pub kind: Kind,
    /// A quantity to draw: `theta[1]`, or `theta` for all its elements; repeat for more. A pair
    /// plot takes two (horizontal, then vertical). Default: the run's quantities.
    #[arg(long = "var")]
    pub variables: Vec<String>,
    /// The picture to write; `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Width and height in pixels, as `WIDTHxHEIGHT` (default: fitted to the panels).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// For `--kind ppc`: the model that was run, whose observed data the replicates are drawn
    /// over (read from its `data` line, or from `--data`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// For `--kind ppc`: the data file, when the model has no `data` line.
    #[arg(long, requires = "model")]
    pub data: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Trace,
    Rank,
    Density,
    Pair,
    Forest,
    Autocorr,
    Objective,
    /// Posterior predictive overlay of `ppl run --predict`'s replicates over the data (needs
    /// `--model`).
    Ppc,
    /// A generative run's samples: a grid of images, or points over 2-D data.
    Samples,
}

impl Kind {
    fn library(self) -> PlotKind {
        match self {
            Kind::Trace => PlotKind::Trace,
            Kind::Rank => PlotKind::Rank,
            Kind::Density => PlotKind::Density,
            Kind::Pair => PlotKind::Pair,
            Kind::Forest => PlotKind::Forest,
            Kind::Autocorr => PlotKind::Autocorr,
            Kind::Objective => PlotKind::Objective,
            Kind::Ppc => PlotKind::Ppc,
            Kind::Samples => PlotKind::Samples,
        }
    }
}

/// A plot failure as a command error with its exit status.
pub(crate) fn plot_error(error: ppl_plot::PlotError) -> CommandError {
    let exit = match error.failure() {
        PlotFailure::Usage => Exit::Usage,
        PlotFailure::RunFiles => Exit::ModelOrData,
        PlotFailure::Drawing => Exit::InferenceFailed,
    };
    CommandError::message(error.code(), error.to_string(), exit)
}

/// The observed variables' values as bound (flattened), for a ppc plot.
pub(crate) fn observed_data(
    model: &ppl_ir::Model,
    bound: &ppl_model::BoundData,
) -> Vec<ppl_plot::Observed> {
    model
        .variables
        .iter()
        .filter(|v| v.role == ppl_ir::Role::Observed)
        .filter_map(|v| {
            let values = bound.observed.get(v.id.0)?.as_ref()?;
            Some(ppl_plot::Observed {
                name: v.name.clone(),
                values: values.clone(),
            })
        })
        .collect()
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT, e.g. 1200x800"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{text}` is not WIDTHxHEIGHT, e.g. 1200x800"))
    };
    Ok((number(width)?, number(height)?))
}

pub fn run(args: PlotArgs) -> Result<(), CommandError> {
    let observed = match &args.model {
        Some(model) => {
            let loaded = crate::frontend::load_model(model, &[])?;
            let bound = crate::frontend::load_and_bind(&loaded, args.data.as_deref(), &[])?;
            observed_data(&loaded.model, &bound.bound)
        }
        None => Vec::new(),
    };
    let request = PlotRequest {
        kind: args.kind.library(),
        variables: args.variables,
        out: args.out,
        size: args.size,
        observed,
    };
    let picture = ppl_plot::plot_dir(&args.dir, &request).map_err(plot_error)?;
    let mut line = format!(
        "wrote {} ({}x{}): {} of {}",
        picture.path.display(),
        picture.width,
        picture.height,
        request.kind.name(),
        picture.variables.join(", ")
    );
    if picture.left_out > 0 {
        line.push_str(&format!(
            " ({} more left out: name them with --var)",
            picture.left_out
        ));
    }
    println!("{line}");
    Ok(())
}
