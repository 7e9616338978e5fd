//! Posterior predictive checks for one observed variable (as bayesplot's `ppc_dens_overlay` and
//! `ppc_bars`): the `y_rep[...]` columns that `ppl run --predict` writes are whole replicated
//! data sets, one per draw; a few dozen of them, spread evenly over the chains, are drawn over the
//! observed data. Real data get kernel densities (replicates thin and light, the data thick and
//! dark); data that are all small integers get bars of their counts with the replicates' middle
//! 90% and median count at each value, where a density would smear the steps.

use plotters::coord::Shift;
use plotters::prelude::*;
use ppl_syntax::diagnostic::backticked;

use crate::error::{PlotError, drawing};
use crate::figure::{self, Figure, Mark, font};
use crate::stats;
use crate::{PlotRequest, RunOutput};

/// Replicated data sets drawn: enough to see the spread, few enough that each line is seen.
pub const REPLICATES: usize = 50;
/// Integer data with at most this many distinct values in their range get bars, not densities.
const MOST_BARS: i64 = 40;
const GRID_POINTS: usize = 256;
pub const DEFAULT_SIZE: (u32, u32) = (900, 560);

/// The data of one observed variable, flattened (the overlays compare distributions, so the
/// order of the values is not used, only their number).
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub name: String,
    pub values: Vec<f64>,
}

/// The replicate columns of `name` (`name_rep[...]`), in order.
pub fn replicate_columns(run: &RunOutput, name: &str) -> Vec<usize> {
    let prefix = format!("{name}_rep");
    run.columns
        .iter()
        .enumerate()
        .filter(|(_, column)| {
            column
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
        })
        .map(|(index, _)| index)
        .collect()
}

/// The observed variables whose replicates the run holds, in column order.
pub fn replicated_names(run: &RunOutput) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for column in &run.columns {
        let base = column.split('[').next().unwrap_or(column);
        if let Some(name) = base.strip_suffix("_rep")
            && !name.is_empty()
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// `count` replicated data sets, taken at evenly spaced draws of the chains laid end to end (so
/// every chain contributes), each the values of `columns` at that draw; non-finite values are
/// dropped.
pub fn replicates(run: &RunOutput, columns: &[usize], count: usize) -> Vec<Vec<f64>> {
    let draws: Vec<(usize, usize)> = run
        .chains
        .iter()
        .enumerate()
        .flat_map(|(chain, c)| {
            let length = c.values.first().map_or(0, Vec::len);
            (0..length).map(move |draw| (chain, draw))
        })
        .collect();
    let taken = count.min(draws.len());
    (0..taken)
        .filter_map(|k| draws.get(k * draws.len() / taken.max(1)))
        .map(|&(chain, draw)| {
            columns
                .iter()
                .filter_map(|&column| run.chains[chain].values.get(column)?.get(draw).copied())
                .filter(|v| v.is_finite())
                .collect()
        })
        .collect()
}

/// Whether `values` are integers whose range is small enough for one bar per value.
fn integer_range(values: &[f64]) -> Option<(i64, i64)> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite() || v.fract() != 0.0) {
        return None;
    }
    let (low, high) = figure::extent(values);
    let (low, high) = (low as i64, high as i64);
    (high - low < MOST_BARS).then_some((low, high))
}

/// A posterior predictive picture, densities or bars.
pub struct PpcPlot<'a> {
    pub name: &'a str,
    pub observed: &'a [f64],
    pub replicates: &'a [Vec<f64>],
}

impl Figure for PpcPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let bars = integer_range(self.observed).filter(|_| {
            self.replicates
                .iter()
                .all(|r| r.iter().all(|v| v.fract() == 0.0))
        });
        let title = match bars {
            Some(_) => format!(
                "Posterior predictive check of {}: counts of the data and of {} replicated data sets",
                self.name,
                self.replicates.len()
            ),
            None => format!(
                "Posterior predictive check of {}: density of the data over {} replicated data sets",
                self.name,
                self.replicates.len()
            ),
        };
        let (cells, legend_area) = figure::layout(root, &title, 1, true)?;
        let Some(cell) = cells.first() else {
            return Ok(());
        };
        let data_colour = figure::NEUTRAL;
        let replicate_colour = figure::chain_colour(4);
        let entries = match bars {
            Some((low, high)) => {
                self.draw_bars(cell, (low, high), data_colour, replicate_colour)?;
                vec![
                    ("data".into(), data_colour, Mark::Bar),
                    ("replicates".into(), replicate_colour, Mark::Dot),
                ]
            }
            None => {
                self.draw_densities(cell, data_colour, replicate_colour)?;
                vec![
                    ("data".into(), data_colour, Mark::Line),
                    ("replicates".into(), replicate_colour, Mark::Line),
                ]
            }
        };
        if let Some(area) = legend_area {
            figure::legend(&area, &entries)?;
        }
        Ok(())
    }
}

impl PpcPlot<'_> {
    fn draw_densities<DB: DrawingBackend>(
        &self,
        cell: &DrawingArea<DB, Shift>,
        data_colour: RGBColor,
        replicate_colour: RGBColor,
    ) -> Result<(), PlotError> {
        let data = stats::sorted_finite(self.observed);
        let data_bandwidth = stats::silverman_bandwidth(&data);
        let (low, high) = figure::extent(
            data.iter()
                .chain(self.replicates.iter().flat_map(|r| r.iter())),
        );
        let reach = 3.0 * data_bandwidth;
        let range = figure::padded(low - reach, high + reach);
        let grid = stats::linspace(range.start, range.end, GRID_POINTS);
        let curve = |sorted: &[f64]| -> Vec<(f64, f64)> {
            let density = stats::kernel_density(sorted, stats::silverman_bandwidth(sorted), &grid);
            grid.iter().copied().zip(density).collect()
        };
        let replicate_curves: Vec<Vec<(f64, f64)>> = self
            .replicates
            .iter()
            .map(|r| curve(&stats::sorted_finite(r)))
            .collect();
        let data_curve = curve(&data);
        let (_, top) = figure::extent(
            data_curve
                .iter()
                .chain(replicate_curves.iter().flatten())
                .map(|(_, y)| y),
        );
        let top = if top.is_finite() && top > 0.0 {
            top * 1.08
        } else {
            1.0
        };
        let mut chart = ChartBuilder::on(cell)
            .margin(8)
            .margin_right(18)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(range, 0.0..top)
            .map_err(drawing)?;
        mesh(&mut chart, self.name, "density")?;
        for points in &replicate_curves {
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied().filter(|(_, y)| y.is_finite()),
                    replicate_colour.mix(0.45).stroke_width(1),
                ))
                .map_err(drawing)?;
        }
        chart
            .draw_series(LineSeries::new(
                data_curve.into_iter().filter(|(_, y)| y.is_finite()),
                data_colour.stroke_width(3),
            ))
            .map_err(drawing)?;
        Ok(())
    }

    fn draw_bars<DB: DrawingBackend>(
        &self,
        cell: &DrawingArea<DB, Shift>,
        (data_low, data_high): (i64, i64),
        data_colour: RGBColor,
        replicate_colour: RGBColor,
    ) -> Result<(), PlotError> {
        // Replicates may reach values the data never took; the bars span both, within reason.
        let (low, high) = figure::extent(self.replicates.iter().flatten());
        let low = (low as i64).max(data_low - MOST_BARS).min(data_low);
        let high = (high as i64).min(data_high + MOST_BARS).max(data_high);
        let width = (high - low + 1) as usize;
        let counts = |values: &[f64]| -> Vec<f64> {
            let mut counts = vec![0.0; width];
            for v in values {
                let slot = *v as i64 - low;
                if let Some(count) = usize::try_from(slot).ok().and_then(|s| counts.get_mut(s)) {
                    *count += 1.0;
                }
            }
            counts
        };
        let data_counts = counts(self.observed);
        let replicate_counts: Vec<Vec<f64>> = self.replicates.iter().map(|r| counts(r)).collect();
        // The replicates' 5%, 50% and 95% count at each value.
        let bands: Vec<(f64, f64, f64)> = (0..width)
            .map(|slot| {
                let mut at: Vec<f64> = replicate_counts.iter().map(|c| c[slot]).collect();
                at.sort_by(f64::total_cmp);
                let q = |p| stats::quantile(&at, p).unwrap_or(0.0);
                (q(0.05), q(0.5), q(0.95))
            })
            .collect();
        let (_, top) = figure::extent(
            data_counts
                .iter()
                .chain(bands.iter().map(|(_, _, high)| high)),
        );
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(cell)
            .margin(8)
            .margin_right(18)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(low as f64 - 0.6..high as f64 + 0.6, 0.0..top)
            .map_err(drawing)?;
        mesh(&mut chart, self.name, "count")?;
        chart
            .draw_series(data_counts.iter().enumerate().map(|(slot, &count)| {
                let x = (low + slot as i64) as f64;
                Rectangle::new(
                    [(x - 0.4, 0.0), (x + 0.4, count)],
                    data_colour.mix(0.35).filled(),
                )
            }))
            .map_err(drawing)?;
        for (slot, &(q05, q50, q95)) in bands.iter().enumerate() {
            let x = (low + slot as i64) as f64;
            chart
                .draw_series(LineSeries::new(
                    [(x, q05), (x, q95)],
                    replicate_colour.stroke_width(3),
                ))
                .map_err(drawing)?;
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, q50),
                    4,
                    replicate_colour.filled(),
                )))
                .map_err(drawing)?;
        }
        Ok(())
    }
}

fn mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    x_description: &str,
    y_description: &str,
) -> Result<(), PlotError> {
    chart
        .configure_mesh()
        .x_desc(x_description)
        .y_desc(y_description)
        .x_label_formatter(&figure::tick)
        .y_label_formatter(&figure::tick)
        .x_labels(8)
        .y_labels(6)
        .label_style(font(figure::TICK_SIZE))
        .axis_desc_style(font(figure::DESCRIPTION_SIZE))
        .light_line_style(figure::LIGHT_GRID)
        .bold_line_style(figure::BOLD_GRID)
        .draw()
        .map_err(drawing)
}

/// The posterior predictive check of the observed variable that `request.variables` names (or
/// the first one the run replicated), against its data in `request.observed`.
pub fn plot(run: &RunOutput, request: &PlotRequest) -> Result<(String, (u32, u32)), PlotError> {
    let available = replicated_names(run);
    if available.is_empty() {
        return Err(PlotError::InputMissing {
            message: format!(
                "no posterior predictive draws in `{}`: `ppl run --predict --out DIR` writes the `y_rep[...]` columns a ppc plot draws",
                run.path.display()
            ),
        });
    }
    let name = match request.variables.as_slice() {
        [] => available[0].clone(),
        [one] => {
            let wanted = one.strip_suffix("_rep").unwrap_or(one);
            if !available.iter().any(|a| a == wanted) {
                return Err(PlotError::UnknownVariable {
                    name: one.clone(),
                    available: format!("replicates of {}", backticked(available.iter())),
                });
            }
            wanted.to_string()
        }
        more => {
            return Err(PlotError::VariableCount {
                message: format!(
                    "a ppc plot takes one observed variable (`--var y`); {} given",
                    more.len()
                ),
            });
        }
    };
    let Some(observed) = request.observed.iter().find(|o| o.name == name) else {
        return Err(PlotError::InputMissing {
            message: format!(
                "a ppc plot draws the replicates over the observed `{name}`, which the output directory does not hold: give the model (`ppl plot DIR --kind ppc --model FILE`, and `--data FILE` if it has no `data` line)"
            ),
        });
    };
    let columns = replicate_columns(run, &name);
    if columns.len() != observed.values.len() {
        return Err(PlotError::InputMissing {
            message: format!(
                "the run replicated {} values of `{name}` but the data have {}: they are not of one run",
                columns.len(),
                observed.values.len()
            ),
        });
    }
    let replicates = replicates(run, &columns, REPLICATES);
    let size = request.size.unwrap_or(DEFAULT_SIZE);
    figure::render(
        &PpcPlot {
            name: &name,
            observed: &observed.values,
            replicates: &replicates,
        },
        size,
        &request.out,
    )?;
    Ok((name, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_png, normal_draws, scratch};
    use crate::{Chain, PlotKind};

    /// Two chains of 100 draws replicating 30 data points, `y_rep[n]` a normal draw around
    /// n / 10 (or its rounding, for counts).
    fn replicated_run(counts: bool) -> (RunOutput, Vec<f64>) {
        let points = 30;
        let columns: Vec<String> = std::iter::once("lp__".to_string())
            .chain((1..=points).map(|n| format!("y_rep[{n}]")))
            .collect();
        let value = |n: usize, noise: f64| {
            let v = n as f64 / 10.0 + noise;
            if counts { v.abs().round() } else { v }
        };
        let chains = (0..2u64)
            .map(|chain| {
                let noise = normal_draws(chain + 7, 100 * points);
                let mut values = vec![vec![0.0; 100]];
                for n in 0..points {
                    values.push((0..100).map(|d| value(n, noise[d * points + n])).collect());
                }
                Chain {
                    label: format!("chain {}", chain + 1),
                    values,
                }
            })
            .collect();
        let data_noise = normal_draws(99, points);
        let observed = (0..points).map(|n| value(n, data_noise[n])).collect();
        let run = RunOutput {
            columns,
            chains,
            ..RunOutput::default()
        };
        (run, observed)
    }

    #[test]
    fn replicates_come_from_every_chain_in_column_order() {
        let (run, _) = replicated_run(false);
        assert_eq!(replicated_names(&run), ["y"]);
        let columns = replicate_columns(&run, "y");
        assert_eq!(columns, (1..=30).collect::<Vec<_>>());
        let sets = replicates(&run, &columns, 4);
        assert_eq!(sets.len(), 4);
        // Draws 0 and 50 of chain 1, then of chain 2.
        assert_eq!(sets[2][5], run.chains[1].values[6][0]);
        assert_eq!(sets[1][0], run.chains[0].values[1][50]);
    }

    #[test]
    fn densities_for_reals_and_bars_for_counts() {
        let dir = scratch("ppc");
        for counts in [false, true] {
            let (run, values) = replicated_run(counts);
            let mut request =
                PlotRequest::new(PlotKind::Ppc, dir.join(format!("ppc-{counts}.png")));
            let error = crate::plot(&run, &request).unwrap_err();
            assert_eq!(error.code(), "E0904", "{error}");
            request.observed = vec![Observed {
                name: "y".into(),
                values,
            }];
            let picture = crate::plot(&run, &request).unwrap();
            assert_eq!(picture.variables, ["y"]);
            check_png(&picture.path, picture.width, picture.height);
        }
        assert!(integer_range(&[0.0, 3.0, 7.0]).is_some());
        assert!(integer_range(&[0.5, 3.0]).is_none());
        assert!(integer_range(&[0.0, 300.0]).is_none());
    }
}
