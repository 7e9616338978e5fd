//! Forest plots: many quantities on one axis, each as its median (a dot) with its 50% (thick) and
//! 90% (thin) central intervals, all chains pooled; for comparing the elements of an array or the
//! parameters of a model at a glance.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, drawing};
use crate::figure::{self, Figure, Mark, font};
use crate::stats;
use crate::{PlotRequest, RunOutput};

const ROW_HEIGHT: u32 = 30;
const INTERVAL: RGBColor = RGBColor(0, 114, 178);

/// A quantity's median and its 50% and 90% central intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intervals {
    pub q5: f64,
    pub q25: f64,
    pub median: f64,
    pub q75: f64,
    pub q95: f64,
}

impl Intervals {
    /// `None` when no draw is finite.
    pub fn of(chains: &[&[f64]]) -> Option<Intervals> {
        let pooled: Vec<f64> = chains.iter().flat_map(|c| c.iter().copied()).collect();
        let sorted = stats::sorted_finite(&pooled);
        Some(Intervals {
            q5: stats::quantile(&sorted, 0.05)?,
            q25: stats::quantile(&sorted, 0.25)?,
            median: stats::quantile(&sorted, 0.5)?,
            q75: stats::quantile(&sorted, 0.75)?,
            q95: stats::quantile(&sorted, 0.95)?,
        })
    }
}

pub struct ForestPlot<'a> {
    pub run: &'a RunOutput,
    pub columns: &'a [usize],
}

/// Room for the longest name in the tick font (DejaVu Sans averages about 0.6 em per character)
/// plus the tick and a margin, so no name is cut off.
fn name_area(names: &[&str]) -> u32 {
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4) as u32;
    (longest * figure::TICK_SIZE * 13 / 20 + 24).max(60)
}

impl Figure for ForestPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let run = self.run;
        let title = format!(
            "Forest plot: medians, 50% and 90% intervals ({}, pooled)",
            crate::chains_phrase(run)
        );
        let (cells, legend) = figure::layout(root, &title, 1, true)?;
        let rows: Vec<(&str, Option<Intervals>)> = self
            .columns
            .iter()
            .map(|&c| (run.columns[c].as_str(), Intervals::of(&run.column(c))))
            .collect();
        let count = rows.len();
        if let Some(cell) = cells.first() {
            let (low, high) = figure::extent(
                rows.iter()
                    .filter_map(|(_, i)| i.as_ref())
                    .flat_map(|i| [&i.q5, &i.q95]),
            );
            let names: Vec<String> = rows.iter().map(|(n, _)| n.to_string()).collect();
            let label_of = move |value: &f64| {
                let row = value.round();
                if (value - row).abs() > 1e-6 || row < 0.0 || row >= count as f64 {
                    return String::new();
                }
                names
                    .get(count - 1 - row as usize)
                    .cloned()
                    .unwrap_or_default()
            };
            let name_refs: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
            let mut chart = ChartBuilder::on(cell)
                .margin(8)
                .margin_right(24)
                .x_label_area_size(48)
                .y_label_area_size(name_area(&name_refs))
                .build_cartesian_2d(figure::padded(low, high), -0.6..count as f64 - 0.4)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc("value")
                .x_label_formatter(&figure::tick)
                .y_label_formatter(&label_of)
                .x_labels(8)
                .y_labels(2 * count + 1)
                .label_style(font(figure::TICK_SIZE))
                .axis_desc_style(font(figure::DESCRIPTION_SIZE))
                .light_line_style(figure::LIGHT_GRID)
                .bold_line_style(figure::BOLD_GRID)
                .draw()
                .map_err(drawing)?;
            for (index, (_, intervals)) in rows.iter().enumerate() {
                let Some(i) = intervals else { continue };
                let y = (count - 1 - index) as f64;
                chart
                    .draw_series([
                        PathElement::new(vec![(i.q5, y), (i.q95, y)], INTERVAL.stroke_width(2)),
                        PathElement::new(vec![(i.q25, y), (i.q75, y)], INTERVAL.stroke_width(7)),
                    ])
                    .map_err(drawing)?;
                chart
                    .draw_series([
                        Circle::new((i.median, y), 5, WHITE.filled()),
                        Circle::new((i.median, y), 4, BLACK.filled()),
                    ])
                    .map_err(drawing)?;
            }
        }
        if let Some(legend) = legend {
            figure::legend(
                &legend,
                &[
                    ("median".into(), BLACK, Mark::Dot),
                    ("50% interval".into(), INTERVAL, Mark::Bar),
                    ("90% interval".into(), INTERVAL, Mark::Line),
                ],
            )?;
        }
        Ok(())
    }
}

pub fn plot(
    run: &RunOutput,
    columns: &[usize],
    request: &PlotRequest,
) -> Result<(u32, u32), PlotError> {
    let size = request.size.unwrap_or((
        900,
        figure::TITLE_BAND + 70 + ROW_HEIGHT * columns.len().max(4) as u32,
    ));
    figure::render(&ForestPlot { run, columns }, size, &request.out)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::Intervals;
    use crate::testing::{check_png, synthetic_run};
    use crate::{PlotKind, PlotRequest};

    #[test]
    fn a_forest_plot_of_synthetic_chains() {
        let run = synthetic_run();
        let dir = crate::testing::scratch("forest");
        let picture =
            crate::plot(&run, &PlotRequest::new(PlotKind::Forest, dir.join("f.png"))).unwrap();
        assert_eq!(picture.variables.len(), 4);
        check_png(&picture.path, picture.width, picture.height);
    }

    #[test]
    fn intervals_pool_the_chains() {
        let first: Vec<f64> = (1..=50).map(f64::from).collect();
        let second: Vec<f64> = (51..=101).map(f64::from).collect();
        let i = Intervals::of(&[&first, &second]).unwrap();
        // 1..=101 pooled: type-7 quantiles fall on whole numbers.
        assert_eq!(
            (i.q5, i.q25, i.median, i.q75, i.q95),
            (6.0, 26.0, 51.0, 76.0, 96.0)
        );
        assert_eq!(Intervals::of(&[&[f64::NAN]]), None);
    }
}
