//! Pictures of a run, as pure functions from its output directory to a PNG or SVG file: trace,
//! rank, density, pair, autocorrelation and forest plots of the draws, and the objective trace of
//! an optimising engine (LANGUAGE.md §8, `ppl plot`), posterior predictive overlays ([`ppc`]),
//! and a generative run's samples (an image grid, or points over 2-D data: [`samples`]). Drawn with `plotters` and an embedded font,
//! so no system library is needed; one module per kind.
//!
//! ```no_run
//! use ppl_plot::{PlotKind, PlotRequest, RunOutput};
//!
//! let run = RunOutput::read("out".as_ref())?;
//! let mut request = PlotRequest::new(PlotKind::Pair, "pair.png");
//! request.variables = vec!["theta[1]".into(), "tau".into()];
//! let picture = ppl_plot::plot(&run, &request)?;
//! println!("wrote {} ({}x{})", picture.path.display(), picture.width, picture.height);
//! # Ok::<(), ppl_plot::PlotError>(())
//! ```

pub mod autocorr;
pub mod density;
pub mod error;
pub mod figure;
pub mod forest;
pub mod image_grid;
pub mod objective;
pub mod pair;
pub mod ppc;
pub mod rank;
pub mod run_output;
pub mod samples;
pub mod scatter;
pub mod stats;
pub mod trace;

#[cfg(test)]
mod testing;

use std::path::{Path, PathBuf};

pub use error::{PlotError, PlotFailure};
pub use image_grid::image_grid;
pub use ppc::Observed;
pub use run_output::{Chain, RunOutput};
pub use scatter::scatter;

/// The kinds of picture `ppl plot --kind` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotKind {
    Trace,
    Rank,
    Density,
    Pair,
    Forest,
    Autocorr,
    Objective,
    /// Posterior predictive overlays of the `y_rep[...]` columns of `ppl run --predict` over the
    /// observed data (which the request carries: output directories do not hold the data).
    Ppc,
    /// New rows from a generative run's saved model: an image grid, or points over the data.
    Samples,
}

impl PlotKind {
    pub const ALL: [PlotKind; 9] = [
        PlotKind::Trace,
        PlotKind::Rank,
        PlotKind::Density,
        PlotKind::Pair,
        PlotKind::Forest,
        PlotKind::Autocorr,
        PlotKind::Objective,
        PlotKind::Ppc,
        PlotKind::Samples,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlotKind::Trace => "trace",
            PlotKind::Rank => "rank",
            PlotKind::Density => "density",
            PlotKind::Pair => "pair",
            PlotKind::Forest => "forest",
            PlotKind::Autocorr => "autocorr",
            PlotKind::Objective => "objective",
            PlotKind::Ppc => "ppc",
            PlotKind::Samples => "samples",
        }
    }

    pub fn from_name(name: &str) -> Option<PlotKind> {
        PlotKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// What to draw and where.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotRequest {
    pub kind: PlotKind,
    /// `--var` names (`theta[1]`, `theta.1`, or `theta` for all its elements); empty for the
    /// kind's default (the run's quantities, or the first two for a pair plot).
    pub variables: Vec<String>,
    /// The file to write; `.png` or `.svg` picks the format.
    pub out: PathBuf,
    /// Width and height in pixels; `None` for a size that fits the panels.
    pub size: Option<(u32, u32)>,
    /// The model's observed data, for a ppc plot; empty otherwise.
    pub observed: Vec<Observed>,
}

impl PlotRequest {
    pub fn new(kind: PlotKind, out: impl Into<PathBuf>) -> PlotRequest {
        PlotRequest {
            kind,
            variables: Vec::new(),
            out: out.into(),
            size: None,
            observed: Vec::new(),
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// The quantities drawn, in display form.
    pub variables: Vec<String>,
    /// Quantities left out to keep the picture readable (only when no `--var` chose them).
    pub left_out: usize,
}

/// Panels drawn when no `--var` is given; more stay readable only when asked for by name.
const DEFAULT_PANELS: usize = 12;
const MAX_PANELS: usize = 30;
const DEFAULT_FOREST_ROWS: usize = 60;
const MAX_FOREST_ROWS: usize = 200;

/// Draws one picture of `run` and writes it to `request.out`.
pub fn plot(run: &RunOutput, request: &PlotRequest) -> Result<Picture, PlotError> {
    // A wrong extension is found before any work, and before the directory is blamed.
    figure::Format::of(&request.out)?;
    if let Some((width, height)) = request.size {
        figure::check_size(width, height)?;
    }
    match request.kind {
        PlotKind::Objective => return objective::plot(run, request),
        PlotKind::Ppc => {
            let (name, (width, height)) = ppc::plot(run, request)?;
            return Ok(Picture {
                path: request.out.clone(),
                width,
                height,
                variables: vec![name],
                left_out: 0,
            });
        }
        PlotKind::Samples => {
            let ((width, height), what) = samples::plot(run, request)?;
            return Ok(Picture {
                path: request.out.clone(),
                width,
                height,
                variables: vec![what],
                left_out: 0,
            });
        }
        _ => {}
    }
    if !run.has_draws() {
        return Err(PlotError::NoDraws {
            path: run.path.clone(),
        });
    }
    let (default_count, most) = match request.kind {
        PlotKind::Forest => (DEFAULT_FOREST_ROWS, MAX_FOREST_ROWS),
        PlotKind::Pair => (2, 2),
        _ => (DEFAULT_PANELS, MAX_PANELS),
    };
    let mut columns = if request.variables.is_empty() {
        // Replicated data and pointwise log-likelihoods (`--predict`, `--log-lik`) are one
        // column per data point: by default they would crowd out the model's quantities.
        run.quantity_columns()
            .filter(|&c| !is_per_data_point(&run.columns[c]))
            .collect()
    } else {
        run.select(&request.variables)?
    };
    let mut left_out = 0;
    let limit = if request.variables.is_empty() {
        default_count
    } else {
        most
    };
    if request.kind == PlotKind::Pair && columns.len() != 2 {
        if request.variables.is_empty() && columns.len() > 2 {
            columns.truncate(2);
        } else {
            return Err(PlotError::VariableCount {
                message: format!(
                    "a pair plot takes two variables (`--var X --var Y`); {} given: {}",
                    columns.len(),
                    names(run, &columns).join(", ")
                ),
            });
        }
    }
    if columns.len() > limit {
        left_out = columns.len() - limit;
        columns.truncate(limit);
    }
    let (width, height) = match request.kind {
        PlotKind::Trace => trace::plot(run, &columns, request)?,
        PlotKind::Rank => rank::plot(run, &columns, request)?,
        PlotKind::Density => density::plot(run, &columns, request)?,
        PlotKind::Pair => pair::plot(run, &columns, request)?,
        PlotKind::Forest => forest::plot(run, &columns, request)?,
        PlotKind::Autocorr => autocorr::plot(run, &columns, request)?,
        PlotKind::Objective | PlotKind::Ppc | PlotKind::Samples => unreachable_kind()?,
    };
    Ok(Picture {
        path: request.out.clone(),
        width,
        height,
        variables: names(run, &columns),
        left_out,
    })
}

/// Reads `dir` (an output directory or one draws file) and draws one picture of it.
pub fn plot_dir(dir: &Path, request: &PlotRequest) -> Result<Picture, PlotError> {
    figure::Format::of(&request.out)?;
    plot(&RunOutput::read(dir)?, request)
}

/// What [`default_set`] drew, and the kinds it could not draw with the reason.
#[derive(Debug, Default)]
pub struct PictureSet {
    pub written: Vec<Picture>,
    pub failed: Vec<(PlotKind, PlotError)>,
}

/// The folder inside a run's output directory that [`default_set`] writes into.
pub const PLOTS_FOLDER: &str = "plots";

/// The pictures that fit what a run wrote, each into `DIR/plots/KIND.png`: for draws the trace,
/// rank, density, pair (of the first two quantities), forest and autocorrelation plots; for an
/// optimiser's objective trace the objective; a posterior predictive check when the run wrote
/// replicates and `observed` holds their data; a generative run's samples. One kind that fails
/// costs one picture: it is listed with its reason beside those written.
pub fn default_set(dir: &Path, observed: &[Observed]) -> Result<PictureSet, PlotError> {
    let run = RunOutput::read(dir)?;
    let mut kinds = Vec::new();
    if run.has_draws() {
        kinds.extend([PlotKind::Trace, PlotKind::Rank, PlotKind::Density]);
        if run.quantity_columns().len() >= 2 {
            kinds.push(PlotKind::Pair);
        }
        kinds.extend([PlotKind::Forest, PlotKind::Autocorr]);
    }
    if run.objective.iter().any(|v| v.is_finite()) {
        kinds.push(PlotKind::Objective);
    }
    let replicated = ppc::replicated_names(&run);
    if replicated
        .iter()
        .any(|name| observed.iter().any(|o| &o.name == name))
    {
        kinds.push(PlotKind::Ppc);
    }
    if dir.join(ppl_planner::generative::GENERATOR_FILE).is_file() {
        kinds.push(PlotKind::Samples);
    }
    let folder = dir.join(PLOTS_FOLDER);
    std::fs::create_dir_all(&folder).map_err(|e| PlotError::Unwritable {
        path: folder.clone(),
        reason: e.to_string(),
    })?;
    let mut set = PictureSet::default();
    for kind in kinds {
        let mut request = PlotRequest::new(kind, folder.join(format!("{}.png", kind.name())));
        if kind == PlotKind::Ppc {
            request.observed = observed.to_vec();
            if let Some(first) = replicated
                .iter()
                .find(|name| observed.iter().any(|o| &o.name == *name))
            {
                request.variables = vec![first.clone()];
            }
        }
        match plot(&run, &request) {
            Ok(picture) => set.written.push(picture),
            Err(error) => set.failed.push((kind, error)),
        }
    }
    Ok(set)
}

/// `y_rep[3]` or `log_lik[3]`: a column `ppl run --predict` or `--log-lik` adds per data point.
fn is_per_data_point(column: &str) -> bool {
    let base = column.split('[').next().unwrap_or(column);
    base.ends_with("_rep") || base == "log_lik"
}

fn names(run: &RunOutput, columns: &[usize]) -> Vec<String> {
    columns.iter().map(|&c| run.columns[c].clone()).collect()
}

/// The kinds handled before the draws are looked at never reach the per-draws dispatch.
fn unreachable_kind() -> Result<(u32, u32), PlotError> {
    Err(PlotError::Drawing("internal: kind dispatched twice".into()))
}

/// "4 chains of 1000 draws" (or "of 998 to 1000 draws" after a merge of unequal runs).
pub(crate) fn chains_phrase(run: &RunOutput) -> String {
    let lengths: Vec<usize> = run
        .chains
        .iter()
        .map(|c| c.values.first().map_or(0, Vec::len))
        .collect();
    let low = lengths.iter().copied().min().unwrap_or(0);
    let high = lengths.iter().copied().max().unwrap_or(0);
    let chains = run.chains.len();
    let noun = if chains == 1 { "chain" } else { "chains" };
    if low == high {
        format!("{chains} {noun} of {low} draws")
    } else {
        format!("{chains} {noun} of {low} to {high} draws")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn per_data_point_columns_are_told_from_quantities() {
        assert!(super::is_per_data_point("y_rep[3]"));
        assert!(super::is_per_data_point("log_lik[12]"));
        assert!(!super::is_per_data_point("theta[1]"));
        assert!(!super::is_per_data_point("reps"));
    }
}
