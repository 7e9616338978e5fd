//! Pair plots: two quantities' draws against each other, all chains pooled, with the draws whose
//! transition diverged (the `divergent__` column) drawn on top in red, as bayesplot's
//! `mcmc_pairs` does. Divergences crowded into one corner (small `tau` in a centred hierarchical
//! model) show where the sampler cannot follow the posterior's curvature.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, drawing};
use crate::figure::{self, Figure, Mark, font};
use crate::{PlotRequest, RunOutput};

pub const DEFAULT_SIZE: (u32, u32) = (900, 760);

pub struct PairPlot<'a> {
    pub run: &'a RunOutput,
    /// The quantity on the horizontal axis, then the one on the vertical axis.
    pub x: usize,
    pub y: usize,
}

/// Points of a scatter plot.
pub type Points = Vec<(f64, f64)>;

/// The draws of two columns split into (not divergent, divergent) points, pooled over chains.
pub fn split_points(run: &RunOutput, x: usize, y: usize) -> (Points, Points) {
    let divergent = run.columns.iter().position(|c| c == "divergent__");
    let mut calm = Vec::new();
    let mut diverged = Vec::new();
    for chain in &run.chains {
        let (Some(xs), Some(ys)) = (chain.values.get(x), chain.values.get(y)) else {
            continue;
        };
        let flags = divergent.and_then(|d| chain.values.get(d));
        for (draw, (&a, &b)) in xs.iter().zip(ys).enumerate() {
            if !(a.is_finite() && b.is_finite()) {
                continue;
            }
            let is_divergent = flags.and_then(|f| f.get(draw)).is_some_and(|&f| f > 0.5);
            if is_divergent {
                diverged.push((a, b));
            } else {
                calm.push((a, b));
            }
        }
    }
    (calm, diverged)
}

impl Figure for PairPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let run = self.run;
        let (x_name, y_name) = (&run.columns[self.x], &run.columns[self.y]);
        let title = format!(
            "Pair plot of {y_name} against {x_name}: {}, pooled",
            crate::chains_phrase(run)
        );
        let (cells, legend) = figure::layout(root, &title, 1, true)?;
        let (calm, diverged) = split_points(run, self.x, self.y);
        if let Some(cell) = cells.first() {
            let (x_low, x_high) = figure::extent(calm.iter().chain(&diverged).map(|(a, _)| a));
            let (y_low, y_high) = figure::extent(calm.iter().chain(&diverged).map(|(_, b)| b));
            let mut chart = ChartBuilder::on(cell)
                .caption(
                    format!("{y_name} against {x_name}"),
                    font(figure::CAPTION_SIZE),
                )
                .margin(8)
                .margin_right(18)
                .x_label_area_size(48)
                .y_label_area_size(76)
                .build_cartesian_2d(figure::padded(x_low, x_high), figure::padded(y_low, y_high))
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .x_desc(x_name.as_str())
                .y_desc(y_name.as_str())
                .x_label_formatter(&figure::tick)
                .y_label_formatter(&figure::tick)
                .label_style(font(figure::TICK_SIZE))
                .axis_desc_style(font(figure::DESCRIPTION_SIZE))
                .light_line_style(figure::LIGHT_GRID)
                .bold_line_style(figure::BOLD_GRID)
                .draw()
                .map_err(drawing)?;
            chart
                .draw_series(
                    calm.iter()
                        .map(|&p| Circle::new(p, 2, figure::NEUTRAL.mix(0.35).filled())),
                )
                .map_err(drawing)?;
            // Divergent draws on top, larger and opaque, with a white rim so that a cluster of
            // them still shows its single points.
            chart
                .draw_series(diverged.iter().map(|&p| Circle::new(p, 4, WHITE.filled())))
                .map_err(drawing)?;
            chart
                .draw_series(
                    diverged
                        .iter()
                        .map(|&p| Circle::new(p, 3, figure::DIVERGENT.filled())),
                )
                .map_err(drawing)?;
        }
        if let Some(legend) = legend {
            figure::legend(
                &legend,
                &[
                    (
                        format!("divergent ({})", diverged.len()),
                        figure::DIVERGENT,
                        Mark::Dot,
                    ),
                    (
                        format!("other ({})", calm.len()),
                        figure::NEUTRAL,
                        Mark::Dot,
                    ),
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
    let &[x, y] = columns else {
        return Err(PlotError::VariableCount {
            message: "a pair plot takes two variables (`--var X --var Y`)".into(),
        });
    };
    let size = request.size.unwrap_or(DEFAULT_SIZE);
    figure::render(&PairPlot { run, x, y }, size, &request.out)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_png, synthetic_run};
    use crate::{PlotKind, PlotRequest};

    #[test]
    fn a_pair_plot_marks_the_divergent_draws() {
        let run = synthetic_run();
        let (calm, diverged) = super::split_points(&run, 9, 8);
        // The synthetic chains diverge exactly where tau < 0.5.
        assert!(!diverged.is_empty());
        assert!(diverged.iter().all(|&(_, tau)| tau < 0.5));
        assert!(calm.iter().all(|&(_, tau)| tau >= 0.5));
        let dir = crate::testing::scratch("pair");
        let mut request = PlotRequest::new(PlotKind::Pair, dir.join("p.png"));
        request.variables = vec!["theta[1]".into(), "tau".into()];
        let picture = crate::plot(&run, &request).unwrap();
        check_png(&picture.path, picture.width, picture.height);
        request.variables = vec!["theta".into(), "tau".into()];
        assert_eq!(crate::plot(&run, &request).unwrap_err().code(), "E0903");
    }
}
