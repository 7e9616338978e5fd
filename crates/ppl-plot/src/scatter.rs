//! Scatter plots of generated samples over the data they imitate, for two-column data (a GAN
//! on the plane, `ppl sample`): the data in grey underneath, the samples on top in colour, both
//! axes on one scale so that rings stay round.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, drawing};
use crate::figure::{self, Figure, Mark, font};

pub const DEFAULT_SIZE: (u32, u32) = (900, 760);

/// What a scatter draws: points as (x, y) and the names of the two columns.
pub struct Scatter<'a> {
    pub title: &'a str,
    pub names: (&'a str, &'a str),
    /// Drawn first, in grey.
    pub data: &'a [(f64, f64)],
    /// Drawn on top, in colour.
    pub samples: &'a [(f64, f64)],
}

impl Figure for Scatter<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (cells, legend) = figure::layout(root, self.title, 1, true)?;
        let finite = |points: &'_ [(f64, f64)]| -> Vec<(f64, f64)> {
            points
                .iter()
                .copied()
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .collect()
        };
        let (data, samples) = (finite(self.data), finite(self.samples));
        if let Some(cell) = cells.first() {
            let everything = || data.iter().chain(&samples);
            let (x_low, x_high) = figure::extent(everything().map(|(a, _)| a));
            let (y_low, y_high) = figure::extent(everything().map(|(_, b)| b));
            // One scale for both axes: the wider range, centred on each axis's middle.
            let half = 0.5 * (x_high - x_low).max(y_high - y_low);
            let (x_mid, y_mid) = (0.5 * (x_low + x_high), 0.5 * (y_low + y_high));
            let mut chart = ChartBuilder::on(cell)
                .margin(8)
                .margin_right(18)
                .x_label_area_size(48)
                .y_label_area_size(76)
                .build_cartesian_2d(
                    figure::padded(x_mid - half, x_mid + half),
                    figure::padded(y_mid - half, y_mid + half),
                )
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .x_desc(self.names.0)
                .y_desc(self.names.1)
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
                    data.iter()
                        .map(|&p| Circle::new(p, 2, figure::NEUTRAL.mix(0.25).filled())),
                )
                .map_err(drawing)?;
            chart
                .draw_series(
                    samples
                        .iter()
                        .map(|&p| Circle::new(p, 2, figure::chain_colour(0).mix(0.5).filled())),
                )
                .map_err(drawing)?;
        }
        if let Some(legend) = legend {
            figure::legend(
                &legend,
                &[
                    (
                        format!("samples ({})", samples.len()),
                        figure::chain_colour(0),
                        Mark::Dot,
                    ),
                    (format!("data ({})", data.len()), figure::NEUTRAL, Mark::Dot),
                ],
            )?;
        }
        Ok(())
    }
}

/// The two-column rows of a table as points (rows of another width are skipped): how generated
/// samples and saved data reach [`scatter`].
pub fn points_of(rows: &[Vec<f64>]) -> Vec<(f64, f64)> {
    rows.iter()
        .filter_map(|row| match row.as_slice() {
            [x, y] => Some((*x, *y)),
            _ => None,
        })
        .collect()
}

/// Draws `samples` over `data` into `out` (PNG or SVG by its extension); returns the size.
pub fn scatter(
    samples: &[(f64, f64)],
    data: &[(f64, f64)],
    names: (&str, &str),
    out: &Path,
) -> Result<(u32, u32), PlotError> {
    // Axes say what the model says (`x[1]`), not the CSV header's `x.1`.
    let names = (
        ppl_planner::draws::display_name(names.0),
        ppl_planner::draws::display_name(names.1),
    );
    let title = format!(
        "Generated samples over the data: {} against {}",
        names.1, names.0
    );
    let figure = Scatter {
        title: &title,
        names: (&names.0, &names.1),
        data,
        samples,
    };
    figure::render(&figure, DEFAULT_SIZE, out)?;
    Ok(DEFAULT_SIZE)
}

#[cfg(test)]
mod tests {
    use crate::testing::check_png;

    #[test]
    fn a_scatter_draws_png_and_svg() {
        let ring: Vec<(f64, f64)> = (0..400)
            .map(|i| {
                let angle = i as f64 * 0.1;
                (2.0 * angle.cos(), 2.0 * angle.sin())
            })
            .collect();
        let samples: Vec<(f64, f64)> = ring.iter().map(|&(a, b)| (a * 0.9, b * 0.9)).collect();
        let dir = crate::testing::scratch("scatter");
        let png = dir.join("s.png");
        let (width, height) = super::scatter(&samples, &ring, ("x.1", "x.2"), &png).unwrap();
        check_png(&png, width, height);
        let svg = dir.join("s.svg");
        super::scatter(&samples, &ring, ("x.1", "x.2"), &svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.contains("samples (400)"),
            "the legend counts the samples"
        );
        assert!(
            text.contains("x[2] against x[1]"),
            "axes and title name the model's elements"
        );
        assert!(super::scatter(&samples, &ring, ("a", "b"), &dir.join("s.bmp")).is_err());
    }
}
