//! Pictures of a run, as pure functions from its output directory to a PNG or SVG file: trace,
//! rank, density, pair, autocorrelation and forest plots of the draws, and the objective trace of
//! an optimising engine (LANGUAGE.md §8, `ppl plot`), and generated samples over 2-D data
//! ([`scatter`], for `ppl sample`). Drawn with `plotters` and an embedded font,
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
pub mod rank;
pub mod run_output;
pub mod scatter;
pub mod stats;
pub mod trace;

#[cfg(test)]
mod testing;

use std::path::{Path, PathBuf};

pub use error::{PlotError, PlotFailure};
pub use image_grid::image_grid;
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
    /// Posterior predictive overlays: named in LANGUAGE.md §8, but runs do not write predictive
    /// draws yet, so asking for one is a coded error.
    Ppc,
}

impl PlotKind {
    pub const ALL: [PlotKind; 8] = [
        PlotKind::Trace,
        PlotKind::Rank,
        PlotKind::Density,
        PlotKind::Pair,
        PlotKind::Forest,
        PlotKind::Autocorr,
        PlotKind::Objective,
        PlotKind::Ppc,
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
}

impl PlotRequest {
    pub fn new(kind: PlotKind, out: impl Into<PathBuf>) -> PlotRequest {
        PlotRequest {
            kind,
            variables: Vec::new(),
            out: out.into(),
            size: None,
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
            return Err(PlotError::InputMissing {
                message: "posterior predictive overlays need predictive draws (`y_rep` columns), which runs do not write yet".into(),
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
        run.quantity_columns().collect()
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
        PlotKind::Objective | PlotKind::Ppc => unreachable_kind()?,
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
