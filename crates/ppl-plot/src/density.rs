//! Marginal densities per chain: a Gaussian kernel density estimate of each chain's draws with
//! Silverman's bandwidth, one curve per chain, so chains that found different modes disagree
//! visibly.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::PlotError;
use crate::figure::{self, Figure, LinesPanel};
use crate::stats;
use crate::{PlotRequest, RunOutput};

/// Points on each curve: smooth at any panel width this crate draws.
const GRID_POINTS: usize = 256;

pub struct DensityPlot<'a> {
    pub run: &'a RunOutput,
    pub columns: &'a [usize],
}

/// Each chain's density on a grid spanning all chains' draws plus three bandwidths either side
/// (where a Gaussian kernel has fallen to 1% of its peak).
pub fn chain_densities(chains: &[&[f64]]) -> Vec<Vec<(f64, f64)>> {
    let sorted: Vec<Vec<f64>> = chains.iter().map(|c| stats::sorted_finite(c)).collect();
    let bandwidths: Vec<f64> = sorted
        .iter()
        .map(|s| stats::silverman_bandwidth(s))
        .collect();
    let (low, high) = figure::extent(sorted.iter().flat_map(|s| s.iter()));
    if !low.is_finite() {
        return vec![Vec::new(); chains.len()];
    }
    let reach = 3.0 * bandwidths.iter().copied().fold(0.0, f64::max);
    let grid = stats::linspace(low - reach, high + reach, GRID_POINTS);
    sorted
        .iter()
        .zip(&bandwidths)
        .map(|(draws, &bandwidth)| {
            let density = stats::kernel_density(draws, bandwidth, &grid);
            grid.iter().copied().zip(density).collect()
        })
        .collect()
}

impl Figure for DensityPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let title = format!(
            "Marginal densities per chain (Gaussian KDE, Silverman bandwidth): {}",
            crate::chains_phrase(self.run)
        );
        figure::chain_panels(root, self.run, &title, self.columns, |name, chains| {
            let curves = chain_densities(chains);
            let (x_low, x_high) = figure::extent(curves.iter().flatten().map(|(x, _)| x));
            let (_, y_high) = figure::extent(curves.iter().flatten().map(|(_, y)| y));
            let series = curves
                .into_iter()
                .enumerate()
                .map(|(index, points)| (figure::chain_colour(index), points))
                .collect();
            LinesPanel {
                caption: format!("density of {name}"),
                x_description: name.into(),
                y_description: "density".into(),
                x_range: figure::padded(x_low, x_high),
                y_range: 0.0..if y_high > 0.0 { y_high * 1.08 } else { 1.0 },
                series,
                reference: None,
                stroke: 2,
                opacity: 1.0,
                dots: false,
            }
        })
    }
}

pub fn plot(
    run: &RunOutput,
    columns: &[usize],
    request: &PlotRequest,
) -> Result<(u32, u32), PlotError> {
    figure::render_panels(&DensityPlot { run, columns }, columns.len(), request)
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_png, synthetic_run};
    use crate::{PlotKind, PlotRequest};

    #[test]
    fn a_density_plot_of_synthetic_chains() {
        let run = synthetic_run();
        let dir = crate::testing::scratch("density");
        let picture = crate::plot(
            &run,
            &PlotRequest::new(PlotKind::Density, dir.join("d.png")),
        )
        .unwrap();
        check_png(&picture.path, picture.width, picture.height);
    }

    #[test]
    fn each_curve_is_a_density() {
        let run = synthetic_run();
        let curves = super::chain_densities(&run.column(7));
        assert_eq!(curves.len(), 4);
        for curve in curves {
            let step = curve[1].0 - curve[0].0;
            let area: f64 = curve.iter().map(|(_, y)| y).sum::<f64>() * step;
            // Three bandwidths either side hold all but 0.3% of each kernel's mass.
            assert!((area - 1.0).abs() < 0.01, "area {area}");
        }
    }
}
