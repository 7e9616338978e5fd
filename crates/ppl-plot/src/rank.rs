//! Rank plots (Vehtari, Gelman, Simpson, Carpenter and Bürkner 2021): all chains' draws of a
//! quantity are ranked together and each chain's ranks are binned. Chains that mix well each
//! hold a fair share of every range of ranks, so their histograms are flat around the dashed
//! uniform level; a chain high or low in the ranks, or one bin pile-up, shows where they part.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, drawing};
use crate::figure::{self, Figure, Mark, font};
use crate::stats;
use crate::{PlotRequest, RunOutput};

pub struct RankPlot<'a> {
    pub run: &'a RunOutput,
    pub columns: &'a [usize],
}

/// Bins of a chain's rank histogram: about 50 draws per bin, between 5 and 20 bins, so that the
/// bars' noise does not drown a real departure from uniform.
pub fn bin_count(draws_per_chain: usize) -> usize {
    (draws_per_chain / 50).clamp(5, 20)
}

impl Figure for RankPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let run = self.run;
        let title = format!(
            "Rank plots: all chains ranked together, a histogram per chain ({})",
            crate::chains_phrase(run)
        );
        let (cells, legend) = figure::layout(root, &title, self.columns.len(), true)?;
        for (cell, &column) in cells.iter().zip(self.columns) {
            self.panel(cell, column)?;
        }
        if let Some(legend) = legend {
            let mut entries = figure::chain_entries(run, Mark::Bar);
            entries.push(("uniform".into(), BLACK, Mark::Line));
            figure::legend(&legend, &entries)?;
        }
        Ok(())
    }
}

impl RankPlot<'_> {
    fn panel<DB: DrawingBackend>(
        &self,
        cell: &DrawingArea<DB, Shift>,
        column: usize,
    ) -> Result<(), PlotError> {
        let run = self.run;
        let name = &run.columns[column];
        let chains = run.column(column);
        let count = chains.len();
        let total: usize = chains.iter().map(|c| c.len()).sum();
        let per_chain = chains.iter().map(|c| c.len()).max().unwrap_or(0);
        let bins = bin_count(per_chain);
        let ranks = stats::pooled_ranks(&chains);
        let histograms: Vec<Vec<usize>> = ranks
            .iter()
            .map(|r| stats::rank_histogram(r, total, bins))
            .collect();
        // One band per chain, chain 1 at the top; the tallest bar fills 90% of a band, so bars of
        // neighbouring chains never touch.
        let tallest = histograms
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        let scale = 0.9 / tallest as f64;
        let band = |chain: usize| (count - 1 - chain) as f64;
        let labels: Vec<String> = run.chains.iter().map(|c| c.label.clone()).collect();
        let label_of = move |value: &f64| {
            let row = value.round();
            if (value - row).abs() > 1e-6 || row < 0.0 || row >= count as f64 {
                return String::new();
            }
            labels
                .get(count - 1 - row as usize)
                .cloned()
                .unwrap_or_default()
        };
        let top = total.max(1) as f64;
        let mut chart = ChartBuilder::on(cell)
            .caption(format!("ranks of {name}"), font(figure::CAPTION_SIZE))
            .margin(8)
            .margin_right(18)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..top, -0.5..count as f64 - 0.5)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("rank among all chains' draws")
            .x_label_formatter(&figure::tick)
            .y_label_formatter(&label_of)
            .x_labels(6)
            .y_labels(2 * count + 1)
            .label_style(font(figure::TICK_SIZE))
            .axis_desc_style(font(figure::DESCRIPTION_SIZE))
            .light_line_style(figure::LIGHT_GRID)
            .bold_line_style(figure::BOLD_GRID)
            .draw()
            .map_err(drawing)?;
        let width = top / bins as f64;
        for (chain, histogram) in histograms.iter().enumerate() {
            let base = band(chain) - 0.45;
            let colour = figure::chain_colour(chain);
            chart
                .draw_series(histogram.iter().enumerate().map(|(bin, &n)| {
                    let left = bin as f64 * width;
                    Rectangle::new(
                        [(left, base), (left + width, base + n as f64 * scale)],
                        colour.mix(0.8).filled(),
                    )
                }))
                .map_err(drawing)?;
            let expected = chains[chain].len() as f64 / bins as f64;
            let level = base + expected * scale;
            chart
                .draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                    [(0.0, level), (top, level)],
                    5,
                    4,
                    BLACK.stroke_width(1),
                )))
                .map_err(drawing)?;
        }
        Ok(())
    }
}

pub fn plot(
    run: &RunOutput,
    columns: &[usize],
    request: &PlotRequest,
) -> Result<(u32, u32), PlotError> {
    let size = request
        .size
        .unwrap_or_else(|| figure::panels_size(columns.len(), true));
    figure::render(&RankPlot { run, columns }, size, &request.out)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_png, synthetic_run};
    use crate::{PlotKind, PlotRequest};

    #[test]
    fn a_rank_plot_of_synthetic_chains() {
        let run = synthetic_run();
        let dir = crate::testing::scratch("rank");
        let picture =
            crate::plot(&run, &PlotRequest::new(PlotKind::Rank, dir.join("r.png"))).unwrap();
        check_png(&picture.path, picture.width, picture.height);
    }

    #[test]
    fn bins_hold_about_fifty_draws() {
        assert_eq!(super::bin_count(1000), 20);
        assert_eq!(super::bin_count(100), 5);
    }
}
